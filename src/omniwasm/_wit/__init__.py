"""WIT in pure Python: type descriptors, Python values, conversion and the WAVE text format.

``types`` describes component-model types, ``values`` holds the Python side of them
(``Ok``/``Err``/``Some``/``Variant``, generated record and enum classes), ``convert`` checks and
normalises Python values against a type (``from_python``/``to_python``), and ``wave``/``wave_lex``
read and write WAVE, the value syntax of ``wasmtime run --invoke``. Foundation layer: nothing
here imports wasmtime.
"""
