"""Build artifacts are deterministic: the digits model and the cloud code package."""

from __future__ import annotations

import pytest

from serve_apps.digits.model import build_model, held_back, load_model, read_uri
from serve_apps.package import code_package
from components.errors import RayfleetError
from tests.fakes.working_dir import working_dir_files


def test_digits_model_builds_the_same_bytes_twice_and_scores_held_back_digits(tmp_path):
    first = build_model(tmp_path / "a")
    second = build_model(tmp_path / "b")
    assert first.name == "digits-v1.json"
    assert first.read_bytes() == second.read_bytes()
    model = load_model(first.as_uri())
    pixels, labels = held_back()
    accuracy = (model.predict_proba(pixels).argmax(axis=1) == labels).mean()
    assert accuracy >= 0.9
    assert model.version.startswith("v1+")


def test_existing_model_is_not_rebuilt(tmp_path):
    path = build_model(tmp_path)
    path.write_text("{}")
    assert build_model(tmp_path).read_text() == "{}"


def test_model_uri_errors_say_how_to_fix(tmp_path):
    with pytest.raises(RayfleetError) as caught:
        read_uri(f"file://{tmp_path}/missing.json")
    assert str(caught.value) == (
        f"modelUri file://{tmp_path}/missing.json: no such file. Fix: run 'rayfleet serve build-models', or correct modelUri"
    )
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(RayfleetError) as caught:
        load_model((tmp_path / "bad.json").as_uri())
    assert "not a digits artifact (format is 'other', expected 'rayfleet-digits/1')" in str(caught.value)


def test_code_package_is_deterministic_and_holds_the_apps():
    import io
    import zipfile

    data, key = code_package()
    again, same_key = code_package()
    assert data == again and key == same_key
    assert key.startswith("serve/code-") and key.endswith(".zip")
    names = working_dir_files(data)
    assert {"serve_apps/digits/app.py", "serve_apps/sentiment/app.py", "components/errors.py"} <= set(names)
    assert not any("__pycache__" in n for n in names)
