"""Profiles: what the stack under test is and which policy it must meet."""

from stackproof.profile.load import deep_merge, load_profile, read_toml, validate_profile
from stackproof.profile.model import Probe, Profile, Service

__all__ = [
    "Probe",
    "Profile",
    "Service",
    "deep_merge",
    "load_profile",
    "read_toml",
    "validate_profile",
]
