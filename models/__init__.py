"""M3RT models: the Python exporter (m3vit/), configs, and the committed micro model."""
