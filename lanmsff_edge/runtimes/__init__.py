"""Interpreters that run exported models: LiteRT on the host CPU (``litert``) and TFLite Micro (``micro``)."""
