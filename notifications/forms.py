from django import forms

from notifications.events import EmailMode


class PreferencesForm(forms.Form):
    """One choice field per event, named by its code; choices limited to what the event allows."""

    def __init__(self, *args, preferences, **kwargs):
        super().__init__(*args, **kwargs)
        labels = dict(EmailMode.CHOICES)
        for event, mode in preferences:
            self.fields[event.code] = forms.ChoiceField(
                label=event.label,
                choices=[(m, labels[m]) for m in event.email_modes],
                initial=mode,
                widget=forms.RadioSelect,
                help_text=(
                    "Low priority: can be gathered into one email a day."
                    if event.low_priority
                    else ""
                ),
            )
