"""Site profiles: everything newscorpus knows about one site, as data (one TOML file each)."""

from sites.profile import (
    BadBaseUrlError,
    ProfileError,
    SiteProfile,
    UnknownSiteError,
    available_sites,
    load_profile,
    profile_for,
)

__all__ = ["BadBaseUrlError", "ProfileError", "SiteProfile", "UnknownSiteError",
           "available_sites", "load_profile", "profile_for"]
