"""Cross-cutting helpers below every other package (they import nothing from Lyrebird).

- :mod:`.atomic`: write a file (or a folder) through a private temp one and rename it into
  place;
- :mod:`.progress`: progress bars on a TTY, plain log lines otherwise;
- :mod:`.fingerprint`: content hash, stable hash, module fingerprint;
- :mod:`.device`: best device, native bf16 on this CPU;
- :mod:`.configs`: frozen dataclass configs to and from JSON dicts;
- :mod:`.checkpoint`: the checkpoint folder (config.json + model.safetensors).
"""
