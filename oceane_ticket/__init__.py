"""Shared core of the DataMiner -> Oceane ticket bridge: settings, storage, the Oceane client, the sandbox."""

__version__ = "0.1.0"
