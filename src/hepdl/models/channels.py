"""The image channels a network can ask for (no torch import: the config checks use it).

The image files hold three channels per event, in this order (the ``images`` contract):
ECal energy (``Tower.Eem``), HCal energy (``Tower.Ehad``) and the number of tracks, each divided
by its maximum over the training split (the scales are stored in the file). A network asks for
a subset by name; ``energy`` is the total calorimeter energy, ECal + HCal, the single channel of
the paper's 1-channel comparison.
"""

from __future__ import annotations

from collections.abc import Sequence

from hepdl.errors import ConfigError

__all__ = ["CHANNELS", "DERIVED_CHANNELS", "check_channels"]

#: The stored channels, in the order of axis 1 of the images' ``data``.
CHANNELS = ("ecal", "hcal", "tracks")

#: Channels computed from the stored ones.
DERIVED_CHANNELS = ("energy",)


def check_channels(names: Sequence[str], key: str = "channels") -> list[str]:
    """Validate a list of channel names.

    Args:
        names: Channel names, each one of :data:`CHANNELS` or :data:`DERIVED_CHANNELS`.
        key: The config key the names came from, for the error message.

    Raises:
        ConfigError: naming ``key``, for an empty list, a repeated or an unknown channel.
    """
    known = (*CHANNELS, *DERIVED_CHANNELS)
    names = list(names)
    if not names:
        raise ConfigError(key, f"no channels given; expected some of {', '.join(known)}")
    for name in names:
        if name not in known:
            raise ConfigError(
                key, f"unknown image channel {name!r}; expected one of {', '.join(known)}"
            )
    if len(set(names)) != len(names):
        raise ConfigError(key, f"channel listed twice in {names}")
    return names
