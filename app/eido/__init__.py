"""NENA EIDO (NENA-STA-021), pure: the schema (schema.py), PIDF-LO locations (pidf.py), the
registries (registry.py), a document read as a call's facts (incoming.py; its place,
location.py; a person's age, age.py) and a call written as a document (outgoing.py). No
database, no HTTP: app/services/eido.py does the rest."""
