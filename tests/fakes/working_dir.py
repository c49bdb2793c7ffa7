"""What a replica's working dir holds once Ray has unpacked a code package, by Ray's own unpacking.

    files = working_dir_files(data)      # {"fraud/app.py", ...}: paths relative to the working dir

Ray unpacks a remote `working_dir` (s3://, file://) with `remove_top_level_directory=True`: when
everything lies under one folder, that folder's contents become the working dir. Tests that read a
package's names directly would miss it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ray._private.runtime_env.packaging import unzip_package


def working_dir_files(data: bytes) -> set[str]:
    with tempfile.TemporaryDirectory() as tmp:
        package, target = Path(tmp) / "package.zip", Path(tmp) / "working_dir"
        package.write_bytes(data)
        unzip_package(package_path=str(package), target_dir=str(target), remove_top_level_directory=True,
                      unlink_zip=True)
        return {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
