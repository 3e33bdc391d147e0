"""Language models built the torchtune way: per family, ``_component_builders.py`` (take modules) and
``_model_builders.py`` (hold only numbers), plus ``_convert_hf.py`` for Hugging Face weights."""
