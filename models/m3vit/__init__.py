"""M3RT's exporter for multi-task mixture-of-experts ViTs (M3ViT): config, weights, ONNX graph, goldens."""
