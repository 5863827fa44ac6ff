"""Text primitives shared by the tasks: vocabularies, transcript normalisers, LM text and the
gettext catalog reader."""
