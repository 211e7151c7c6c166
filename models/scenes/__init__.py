"""Procedural multi-task scenes (numpy only): images with segmentation and depth maps, generated from seeds."""

from .generate import CLASSES, MAX_DEPTH, Scene, batch, scene, split_seed

__all__ = ["CLASSES", "MAX_DEPTH", "Scene", "batch", "scene", "split_seed"]
