"""Judges of generated images: which group an image shows, and whether it is blank.

Both stages that draw images import them: ``generate`` (the quality filter of synthetic sets)
and ``adapters`` (prior-preservation class images), so the judges sit outside both.
"""
