"""The LANMSFF network: builder, custom layers, model files, cost summary."""
from lanmsff_edge.model.io import load_model, save_model
from lanmsff_edge.model.lanmsff import block_widths, build_from_options, build_model
from lanmsff_edge.model.layers import CUSTOM_OBJECTS
from lanmsff_edge.model.summary import model_summary

__all__ = ["build_model", "build_from_options", "block_widths", "load_model", "save_model", "model_summary",
           "CUSTOM_OBJECTS"]
