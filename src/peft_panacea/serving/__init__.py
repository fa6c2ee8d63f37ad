"""Serve every preference of a Panacea adapter from one LoRA server: read the manifest of a serving export and
build each request's adapter scales. Needs only the base install (the preference checks live in the tuner)."""

from .llama_cpp import convert_checkpoint, llama_cpp_source, llama_server_binary
from .llama_server import LlamaServer
from .manifest import AdapterEntry, ServingManifest
from .requests import llama_cpp_completion, llama_cpp_lora, llama_cpp_reset, llama_server_command, lorax_generate

__all__ = [
    "AdapterEntry",
    "LlamaServer",
    "ServingManifest",
    "convert_checkpoint",
    "llama_cpp_completion",
    "llama_cpp_lora",
    "llama_cpp_reset",
    "llama_cpp_source",
    "llama_server_binary",
    "llama_server_command",
    "lorax_generate",
]
