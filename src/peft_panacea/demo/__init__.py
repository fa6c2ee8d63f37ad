"""The demo app (the main job of ``panacea demo``): the positivity-vs-neutrality task, its offline rewards and
prompts, and the embedded SmolLM2 loader.

An application on top of the library: it uses the tuner, the trainers and the evaluation, and none of them import
it. Import the modules directly (``peft_panacea.demo.default_model``, ``.rewards``, ``.prompts``, ``.task``,
``.run``); this package imports nothing so that the light ones load without the training stack.
"""
