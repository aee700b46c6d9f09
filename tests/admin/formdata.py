"""Build the POST an operator's browser would send from a rendered admin change form."""


def _field_values(form, data):
    for name, field in form.fields.items():
        if field.disabled:
            continue
        value = form[name].value()
        keys = [form.add_prefix(name)]
        if field.show_hidden_initial:
            # Fields with callable defaults carry their initial value in a hidden input,
            # which Django compares against to decide whether the field changed.
            keys.append(form.add_initial_prefix(name))
        for key in keys:
            if value is None or value is False:
                continue
            if value is True:
                data[key] = "on"
            elif isinstance(value, list | tuple):
                data[key] = [str(item) for item in value]
            else:
                data[key] = str(value)


def change_form_data(response, **changes):
    """The change form's current values (main form, inline forms and their management
    forms), with ``changes`` applied on top."""
    data = {}
    _field_values(response.context["adminform"].form, data)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        _field_values(formset.management_form, data)
        for form in formset.initial_forms:
            _field_values(form, data)
    data.update(changes)
    return data
