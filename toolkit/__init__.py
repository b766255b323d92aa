"""domain-distill: turn labeled domain data and several big teachers into a small, measured student classifier."""

__version__ = "0.1.0"
