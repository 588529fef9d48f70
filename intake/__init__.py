"""The HTTP intake (``oceane-ticket serve``): the producer over HTTP, for DataMiner's C# Automation scripts."""
