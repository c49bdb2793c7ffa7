"""The region emulator: an environment's primary region on this machine, with moto as its control plane.

    components.drills.emulate.plane          # pure: the planned resources a region needs at boot -> API calls
    components.drills.emulate.moto_server    # a moto server on loopback that is always stopped
    components.drills.emulate.control_plane  # sends the calls, keeps planned ID -> emulated ID
"""
