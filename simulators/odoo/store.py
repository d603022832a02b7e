"""In-memory records with Odoo's value rules: typed writes, x2many commands, classic ``read`` output.

Values are kept raw (many2one as an id or None, one2many computed from the inverse field) and
rendered the way the RPC layer renders them: ``[id, display_name]`` / ``False`` / id lists /
``"YYYY-MM-DD HH:MM:SS"`` strings.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from simulators.odoo.exceptions import MissingError, PythonError, ValidationError
from simulators.odoo.schema import MODELS, Field, ModelDef

__all__ = ["DATETIME_FORMAT", "Store"]

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"
_SCALARS = (str, int, float, type(None))  # immutable values need no defensive copy


def _invalid_field(name: str, model: str) -> PythonError:
    return PythonError("ValueError", f"Invalid field {name!r} on model {model!r}")


def _unindex(index: dict[str, set[int]], value: Any, rec_id: int) -> None:
    if isinstance(value, str):
        ids = index.get(value)
        if ids is not None:
            ids.discard(rec_id)
            if not ids:
                del index[value]


class Store:
    """All records of one simulated database."""

    def __init__(self, modules: set[str] | None = None) -> None:
        self.modules: set[str] = set(modules or ())
        self.records: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in MODELS}
        self._next_id: dict[str, int] = dict.fromkeys(MODELS, 1)
        self._sequences: dict[str, int] = {}
        # Per-call hot path: the active fields of a model for the installed modules, computed once.
        self._fields: dict[tuple[str, frozenset[str]], dict[str, Field]] = {}
        # Equality index on char fields, built on first use and kept by ``write``. It only narrows
        # the candidates of a search: the domain is still evaluated on each, so an entry left stale
        # by a direct edit or a deletion can never produce a wrong answer.
        self._index: dict[tuple[str, str], dict[str, set[int]]] = {}

    # --- schema -----------------------------------------------------------------------------
    def model(self, name: str) -> ModelDef:
        return MODELS[name]

    def fields(self, model: str) -> dict[str, Field]:
        """Fields of the model with its optional modules filtered by what is installed (do not mutate)."""
        key = (model, frozenset(self.modules))
        found = self._fields.get(key)
        if found is None:
            found = self._fields[key] = {
                name: f
                for name, f in MODELS[model].fields.items()
                if f.module is None or f.module in self.modules
            }
        return found

    def field(self, model: str, name: str) -> Field:
        found = self.fields(model).get(name)
        if found is None:
            raise _invalid_field(name, model)
        return found

    def next_name(self, prefix: str) -> str:
        self._sequences[prefix] = self._sequences.get(prefix, 0) + 1
        return f"{prefix}{self._sequences[prefix]:05d}"

    # --- records ----------------------------------------------------------------------------
    def ids(self, model: str) -> list[int]:
        return sorted(self.records[model])

    def raw(self, model: str, rec_id: int) -> dict[str, Any]:
        return self.records[model][rec_id]

    def check_exist(self, model: str, ids: list[int], uid: int) -> None:
        missing = [i for i in ids if i not in self.records[model]]
        if missing:
            shown = ", ".join(str(i) for i in missing)
            raise MissingError(
                "Record does not exist or has been deleted.\n"
                f"(Record: {model}({shown},), User: {uid})"
            )

    def create(self, model: str, vals: dict[str, Any]) -> int:
        rec_id = self._next_id[model]
        self._next_id[model] += 1
        record: dict[str, Any] = {"id": rec_id}
        for name, f in self.fields(model).items():
            if f.stored:
                default = f.default
                record[name] = default if isinstance(default, _SCALARS) else copy.deepcopy(default)
        self.records[model][rec_id] = record
        try:
            self.write(model, [rec_id], vals)
            for name, f in self.fields(model).items():
                if f.required and f.stored and record.get(name) in (None, False, ""):
                    raise ValidationError(
                        f'The operation cannot be completed: Missing required value for the field '
                        f'"{f.string}" ({name}).\nModel: {MODELS[model].description} ({model})'
                    )
        except Exception:
            del self.records[model][rec_id]
            self._next_id[model] -= 1
            raise
        return rec_id

    def write(self, model: str, ids: list[int], vals: dict[str, Any]) -> None:
        if not isinstance(vals, dict):
            raise PythonError("TypeError", f"write() argument must be a dict, not {type(vals).__name__}")
        for name, value in vals.items():
            f = self.field(model, name)
            if f.related is not None:
                continue  # related/computed without inverse: Odoo ignores the write
            if f.type == "one2many":
                for rec_id in ids:
                    self._o2m_commands(model, rec_id, name, f, value)
                continue
            converted = self._convert(model, name, f, value)
            index = self._index.get((model, name))
            for rec_id in ids:
                record = self.records[model][rec_id]
                if index is not None:
                    _unindex(index, record.get(name), rec_id)
                    if isinstance(converted, str):
                        index.setdefault(converted, set()).add(rec_id)
                # scalars are immutable: only containers need a private copy per record
                record[name] = converted if isinstance(converted, _SCALARS) else copy.deepcopy(converted)

    def _convert(self, model: str, name: str, f: Field, value: Any) -> Any:
        if value is False or value is None:
            return False if f.type == "boolean" else None
        kind = f.type
        if kind in ("char", "text", "html"):
            return str(value)
        if kind == "boolean":
            return bool(value)
        if kind in ("integer", "float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise PythonError("ValueError", f"could not convert {value!r} to {kind} for {model}.{name}")
            return int(value) if kind == "integer" else float(value)
        if kind == "selection":
            if value not in {key for key, _label in f.selection}:
                raise PythonError("ValueError", f"Wrong value for {model}.{name}: {value!r}")
            return value
        if kind == "many2one":
            if not isinstance(value, int) or isinstance(value, bool):
                raise PythonError("ValueError", f"Wrong value for {model}.{name}: {value!r}")
            assert f.relation is not None
            if value not in self.records[f.relation]:
                raise ValidationError(
                    "The operation cannot be completed: another model requires the record being "
                    f"deleted. If possible, archive it instead.\n\nModel: {f.relation}, "
                    f"Constraint: {model.replace('.', '_')}_{name}_fkey"
                )
            return value
        if kind in ("datetime", "date"):
            # fields.Datetime.to_datetime / Date.to_date: truncate, then one strict format
            text = str(value)[: 19 if kind == "datetime" else 10]
            if len(text) == 10 and kind == "datetime":
                text += " 00:00:00"
            try:
                parsed = datetime.strptime(text, DATETIME_FORMAT if kind == "datetime" else DATE_FORMAT)
            except ValueError as exc:
                raise PythonError("ValueError", str(exc)) from exc
            return parsed.strftime(DATETIME_FORMAT if kind == "datetime" else DATE_FORMAT)
        raise PythonError("ValueError", f"Unsupported write on {model}.{name}")

    def _o2m_commands(self, model: str, rec_id: int, name: str, f: Field, commands: Any) -> None:
        assert f.relation is not None
        assert f.inverse is not None
        if not isinstance(commands, list):
            raise PythonError("ValueError", f"Wrong value for {model}.{name}: {commands!r}")
        for command in commands:
            if isinstance(command, (list, tuple)) and command and command[0] == 0:
                self.create(f.relation, {**command[2], f.inverse: rec_id})
            elif isinstance(command, (list, tuple)) and len(command) == 3 and command[0] == 1:
                self.check_exist(f.relation, [command[1]], 0)
                self.write(f.relation, [command[1]], command[2])
            else:
                raise PythonError("ValueError", f"Unsupported x2many command {command!r} on {model}.{name}")

    def candidates(self, model: str, name: str, value: str) -> list[int] | None:
        """Ids whose char field ``name`` may equal ``value`` (sorted), or None when not indexable."""
        f = self.fields(model).get(name)
        if f is None or f.type != "char" or f.related is not None:
            return None
        index = self._index.get((model, name))
        if index is None:
            index = self._index[(model, name)] = {}
            for rec_id, record in self.records[model].items():
                current = record.get(name)
                if isinstance(current, str):
                    index.setdefault(current, set()).add(rec_id)
        records = self.records[model]
        return sorted(i for i in index.get(value, ()) if i in records)

    # --- reading ----------------------------------------------------------------------------
    def children(self, f: Field, rec_id: int) -> list[int]:
        assert f.relation is not None
        assert f.inverse is not None
        return sorted(i for i, r in self.records[f.relation].items() if r.get(f.inverse) == rec_id)

    def display_name(self, model: str, rec_id: int) -> str:
        record = self.records[model].get(rec_id)
        if record is None:
            return f"{model},{rec_id}"
        rec_name = MODELS[model].rec_name
        f = MODELS[model].fields[rec_name]
        if f.type == "many2one" and f.relation and record.get(rec_name):
            return self.display_name(f.relation, record[rec_name])
        name = str(record.get(rec_name) or "")
        if model == "product.product" and record.get("default_code"):
            return f"[{record['default_code']}] {name}"
        return name

    def leaf_values(self, rec_id: int, path: str, *, names: bool, model: str = "") -> list[Any]:
        """Domain support: values at the end of ``path`` (any-match through x2many)."""
        head, _, rest = path.partition(".")
        if head == "id":
            return [rec_id]
        f = self.field(model, head)
        record = self.records[model][rec_id]
        if f.related is not None:
            return self.leaf_values(rec_id, f.related + (f".{rest}" if rest else ""), names=names, model=model)
        if f.type in ("many2one", "one2many"):
            assert f.relation is not None
            targets = self.children(f, rec_id) if f.type == "one2many" else (
                [record[head]] if record.get(head) else []
            )
            if rest:
                return [v for t in targets for v in self.leaf_values(t, rest, names=names, model=f.relation)]
            if names:
                return [self.display_name(f.relation, t) for t in targets]
            return list(targets)
        if rest:
            raise _invalid_field(path, model)
        return [record.get(head)]

    def read(self, model: str, ids: list[int], fields: list[str] | None) -> list[dict[str, Any]]:
        active = self.fields(model)
        wanted = list(fields) if fields else [n for n in active if n != "tracking_state_history"]
        for name in wanted:
            if name not in active and name not in ("id", "display_name"):
                raise _invalid_field(name, model)
        return [self._render(model, rec_id, wanted, active) for rec_id in ids]

    def _render(self, model: str, rec_id: int, wanted: list[str], active: dict[str, Field]) -> dict[str, Any]:
        record = self.records[model][rec_id]
        out: dict[str, Any] = {"id": rec_id}
        for name in wanted:
            if name == "id":
                continue
            if name == "display_name":
                out[name] = self.display_name(model, rec_id)
                continue
            f = active[name]
            if f.related is not None:
                values = self.leaf_values(rec_id, f.related, names=False, model=model)
                out[name] = values[0] if values and values[0] is not None else False
            elif f.type == "one2many":
                out[name] = self.children(f, rec_id)
            elif f.type == "many2one":
                target = record.get(name)
                assert f.relation is not None
                out[name] = [target, self.display_name(f.relation, target)] if target else False
            else:
                value = record.get(name)
                out[name] = False if value is None else copy.deepcopy(value)
        return out

    def dump(self, model: str | None = None) -> dict[str, list[dict[str, Any]]]:
        names = [model] if model else list(self.records)
        return {n: [copy.deepcopy(r) for _, r in sorted(self.records[n].items())] for n in names}
