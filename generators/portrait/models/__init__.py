"""Torch models of the portrait pipelines (diffusers ModelMixin + ConfigMixin): the AU-conditioned UNet and the SD AU adapter."""
