"""Site profiles: everything newscorpus knows about one site, as data (one TOML file each)."""

from sites.profile import (
    BadBaseUrlError,
    SiteProfile,
    UnknownSiteError,
    available_sites,
    load_profile,
)

__all__ = ["BadBaseUrlError", "SiteProfile", "UnknownSiteError", "available_sites", "load_profile"]
