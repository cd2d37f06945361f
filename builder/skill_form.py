"""The skill's admin form: the action chosen from the built-in ones, its parameters edited as a
form (static/admin/skill-form.js, from the schemas this module hands the page), and the checks
the model alone does not make: a clear rule for names, and no ``${inputs.x}`` the skill does
not declare (it would pass every workflow's validation and fail only at run time)."""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput

from engine import default_registry

from .models import Skill

NAME_RULE = "Use letters (a-z, A-Z), digits (0-9) and _ only, starting with a letter or _ (for example count_words)."
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
#: the fields whose change can break a workflow that uses the skill
WATCHED = ("name", "enabled", "action", "config", "input_schema", "output_schema")

# one ``${...}``, then each ``inputs.NAME`` or ``inputs["NAME"]`` inside it (not ``x.inputs``)
_EXPRESSION = re.compile(r"\$\{(.*?)\}", re.S)
_INPUT_REF = re.compile(r"(?<![\w.])inputs\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*(['\"])(.*?)\2\s*\])")


def built_in_actions() -> list[dict]:
    """Every built-in action: name, title, description and the JSON Schema of its parameters."""
    return [{key: item[key] for key in ("name", "title", "description", "schema")}
            for item in default_registry().describe()]


def _strings(value, place: str):
    """Every text in a JSON value (keys too), with where it is (``config.args[0]``)."""
    if isinstance(value, str):
        yield place, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key, place)
            yield from _strings(item, f"{place}.{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _strings(item, f"{place}[{n}]")


def undeclared_inputs(config, input_schema) -> list[str]:
    """Problems for each ``${inputs.NAME}`` in ``config`` whose NAME the input schema's
    ``properties`` do not declare ([] when all are declared)."""
    if not isinstance(config, dict) or not isinstance(input_schema, dict):
        return []  # (refused for their own reasons)
    properties = input_schema.get("properties")
    declared = set(properties) if isinstance(properties, dict) else set()
    problems = []
    for place, text in _strings(config, "config"):
        for expression in _EXPRESSION.findall(text):
            for match in _INPUT_REF.finditer(expression):
                name = match.group(1) or match.group(3)
                if name not in declared:
                    known = ", ".join(sorted(declared)) or "none"
                    problems.append(f"{place}: ${{inputs.{name}}} is not declared in the input schema "
                                    f"(its properties: {known}); add it there or fix the name")
    return list(dict.fromkeys(problems))


def problems(skill: Skill, exclude=("id",)) -> dict[str, list[str]]:
    """Field → problems of a skill about to be saved outside the form (import, restore): the
    model's fields and checks, with the name rule said in words, and the inputs' check."""
    found: dict[str, list[str]] = {}
    try:
        skill.full_clean(exclude=list(exclude), validate_unique=False)
    except ValidationError as exc:
        found = {field: list(messages) for field, messages in exc.message_dict.items()}
    if "name" in found and not re.match(NAME_PATTERN, str(skill.name or "")):
        found["name"] = [NAME_RULE if m == "Enter a valid value." else m for m in found["name"]]
    undeclared = undeclared_inputs(skill.config, skill.input_schema)
    if undeclared and "config" not in found:
        found["config"] = undeclared
    return found


class SkillForm(forms.ModelForm):
    """A skill's fields; ``breaks`` is set (by the admin) when saving would break workflows."""

    name = forms.RegexField(regex=NAME_PATTERN, max_length=100, error_messages={"invalid": NAME_RULE},
                            help_text=NAME_RULE)
    # text with a list to choose from: an unknown name gets the model's "did you mean" message
    action = forms.CharField(max_length=100, widget=forms.Select(),
                             help_text="the built-in action this skill presets; its parameters appear below")
    #: the fingerprint of the breaks the admin saw and accepted (the "Save anyway" button's value)
    confirm_breaking = forms.CharField(required=False, widget=forms.HiddenInput())

    class Meta:
        model = Skill
        fields = ["name", "title", "description", "category", "enabled", "action", "config", "concurrency",
                  "input_schema", "output_schema"]
        widgets = {"config": forms.Textarea(attrs={"rows": 6, "data-skill-config": "", "spellcheck": "false"}),
                   "input_schema": forms.Textarea(attrs={"rows": 8, "data-skill-inputs": "", "spellcheck": "false"}),
                   "output_schema": forms.Textarea(attrs={"rows": 4, "spellcheck": "false"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(a["name"], f"{a['name']} — {a['title']}" if a["title"] != a["name"] else a["name"])
                   for a in built_in_actions()]
        current = self.instance.action if self.instance.pk else None
        if current and current not in dict(choices):  # keep a stored unknown name visible (refused on save)
            choices.append((current, f"{current} (unknown)"))
        self.fields["action"].widget.choices = [("", "— choose an action —"), *choices]
        if not self.is_bound and self.instance.output_schema is None:
            self.initial["output_schema"] = InvalidJSONInput("")  # an empty field, not the text "null"
        self.breaks = None  # skill_usage.Breaks, when saving would break workflows (not confirmed)
        self._was = {name: getattr(self.instance, name) for name in WATCHED} if self.instance.pk else None

    def _post_clean(self):
        super()._post_clean()  # the model's fields and Skill.clean (skill_problems)
        undeclared = undeclared_inputs(self.instance.config, self.instance.input_schema)
        if undeclared and "config" not in self.errors:
            self.add_error("config", ValidationError(undeclared))
        if not self.errors and self._was is not None:
            self._check_users()

    def _check_users(self) -> None:
        """Ask before a change that breaks workflows valid today (the confirm step)."""
        from .skill_usage import impact

        if all(getattr(self.instance, name) == value for name, value in self._was.items()):
            return
        breaks = impact([(self._was["name"], self.instance, self.instance.pk)])
        if breaks and self.cleaned_data.get("confirm_breaking") != breaks.fingerprint:
            self.breaks = breaks
            self.add_error(None, f"Saving this would break {breaks.summary} (listed above): change the skill, "
                                 "or save anyway with the button at the bottom.")
