"""``panacea ui``: a local Gradio page to steer one Panacea adapter live and see its front ([demo] extra).

An application layer beside ``cli.py``: it may import ``demo`` and ``evaluation``, and no library layer imports it.
Gradio is imported only by :mod:`peft_panacea.ui.app`, so the steering logic (:mod:`.steering`) and the front
picture (:mod:`.front_view`) work, and are tested, without it.
"""

from .steering import GenerationSettings, Reply, Steering, normalise

__all__ = ["GenerationSettings", "Reply", "Steering", "normalise"]
