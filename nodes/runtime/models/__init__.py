"""The values on MODEL, CLIP and VAE wires, and the latent facts of each family."""
from .diffusion_model import DiffusionModel
from .latent_formats import LatentFormat, latent_format
from .text_encoders import TextEncoders
from .vae import Vae

__all__ = ["DiffusionModel", "LatentFormat", "TextEncoders", "Vae", "latent_format"]
