"""Forms of the privacy centre; all of them go through the forbidden-field guard."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from privacy.guard import GuardedForm
from privacy.models import DataClass, Purpose, RightsRequest
from privacy.services.rights import CORRECTABLE
from shops.models import User

CORRECTABLE_LABELS = {
    "user.first_name": _("First name"),
    "user.last_name": _("Last name"),
    "seller.legal_name": _("Seller legal name"),
    "seller.contact_email": _("Seller contact e-mail"),
    "seller.contact_phone": _("Seller contact phone"),
    "seller.tax_id": _("Seller tax id"),
    "seller.bank_account_name": _("Bank account holder"),
    "seller.bank_account_number": _("Bank account number"),
    "seller.bank_code": _("Bank code (SWIFT/BIC)"),
    "creator.display_name": _("Creator display name"),
    "creator.email": _("Creator e-mail"),
}
assert set(CORRECTABLE_LABELS) == set(CORRECTABLE)

PURPOSE_HELP = {
    Purpose.MARKETING_EMAIL: _("News about the portal and the affiliate programme, at most once a month."),
    Purpose.PRODUCT_ANALYTICS: _("Which pages you open, so that we can improve the portal."),
    Purpose.DATA_SHARING: _(
        "Your eligibility verdicts, reasons and metrics sent to API clients and webhook receivers "
        "authorised by ops. Without it they receive nothing about you."
    ),
}


class ConsentForm(GuardedForm):
    consent_marketing_email = forms.BooleanField(required=False, label=Purpose.MARKETING_EMAIL.label)
    consent_product_analytics = forms.BooleanField(required=False, label=Purpose.PRODUCT_ANALYTICS.label)
    consent_data_sharing = forms.BooleanField(required=False, label=Purpose.DATA_SHARING.label)

    PURPOSES = {
        "consent_marketing_email": Purpose.MARKETING_EMAIL,
        "consent_product_analytics": Purpose.PRODUCT_ANALYTICS,
        "consent_data_sharing": Purpose.DATA_SHARING,
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, purpose in self.PURPOSES.items():
            self.fields[name].help_text = PURPOSE_HELP[purpose]

    def answers(self) -> dict[str, bool]:
        return {purpose: self.cleaned_data[name] for name, purpose in self.PURPOSES.items()}


class PolicyAcceptForm(GuardedForm):
    accept = forms.BooleanField(label=_("I have read and accept this privacy policy."))
    next = forms.CharField(required=False, widget=forms.HiddenInput)


class RightsRequestForm(GuardedForm):
    kind = forms.ChoiceField(label=_("What are you asking for?"), choices=RightsRequest.Kind.choices)
    details = forms.CharField(
        label=_("Details"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Anything that helps us answer: what is wrong, what you want deleted, why you contest a verdict."),
    )
    correction_field = forms.ChoiceField(label=_("Data to correct"), required=False)
    correction_target = forms.ChoiceField(label=_("Seller"), required=False)
    correction_value = forms.CharField(label=_("Correct value"), required=False, max_length=255)
    purposes = forms.MultipleChoiceField(
        label=_("Consents to withdraw"),
        required=False,
        choices=Purpose.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    decision = forms.TypedChoiceField(label=_("Verdict to review"), required=False, coerce=int, empty_value=None)
    password = forms.CharField(
        label=_("Your password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text=_("We check your password, then e-mail you a code to confirm the request."),
    )

    def __init__(self, *args, sellers=(), decisions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["correction_field"].choices = [("", "—"), *CORRECTABLE_LABELS.items()]
        self.fields["correction_target"].choices = [("", "—"), *[(s.key, f"{s.legal_name} ({s.key})") for s in sellers]]
        self.fields["decision"].choices = [("", "—"), *decisions]


class CodeForm(GuardedForm):
    code = forms.CharField(
        label=_("Code from the e-mail"),
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class PasswordForm(GuardedForm):
    password = forms.CharField(
        label=_("Your password"), widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class ExtendForm(GuardedForm):
    reason = forms.CharField(
        label=_("Reason told to the requester"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    days = forms.IntegerField(
        label=_("Extra days"), min_value=1, max_value=settings.PRIVACY_EXTENSION_MAX_DAYS, initial=15
    )


class RefuseForm(GuardedForm):
    reason = forms.CharField(
        label=_("Reason told to the requester"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )


class CompleteForm(GuardedForm):
    response = forms.CharField(
        label=_("Answer to the requester"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class RetentionForm(GuardedForm):
    data_class = forms.ChoiceField(choices=DataClass.choices, widget=forms.HiddenInput)
    days = forms.IntegerField(label=_("Days"), min_value=1, max_value=36500)
    enabled = forms.BooleanField(label=_("Applied daily"), required=False)


class PolicyPublishForm(GuardedForm):
    effective_from = forms.DateField(label=_("Effective from"), widget=forms.DateInput(attrs={"type": "date"}))
    significant = forms.BooleanField(
        label=_("Significant change: everyone accepts again at next sign-in"), required=False
    )
    title_en = forms.CharField(label=_("Title (English)"), max_length=200)
    title_zh = forms.CharField(label=_("Title (Chinese)"), max_length=200)
    summary_en = forms.CharField(label=_("What changed (English)"), widget=forms.Textarea(attrs={"rows": 3}))
    summary_zh = forms.CharField(label=_("What changed (Chinese)"), widget=forms.Textarea(attrs={"rows": 3}))
    body_en = forms.CharField(label=_("Policy text (English, Markdown)"), widget=forms.Textarea(attrs={"rows": 14}))
    body_zh = forms.CharField(label=_("Policy text (Chinese, Markdown)"), widget=forms.Textarea(attrs={"rows": 14}))


class RegistrationForm(GuardedForm):
    role = forms.ChoiceField(
        label=_("I am"),
        choices=[(User.Role.SELLER, _("A seller (member of a shop business)")), (User.Role.CREATOR, _("A creator"))],
        widget=forms.RadioSelect,
    )
    email = forms.EmailField(label=_("E-mail address"), widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    birth_date = forms.DateField(
        label=_("Date of birth"),
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"}),
        help_text=_("Only people aged 18 or older may register. We keep only the fact that you are an adult."),
    )
    seller_key = forms.CharField(label=_("Seller id"), required=False, max_length=64)
    creator_key = forms.CharField(label=_("Creator id"), required=False, max_length=64)
    accept_policy = forms.BooleanField(label=_("I have read and accept the privacy policy."), required=False)
    consent_marketing_email = forms.BooleanField(required=False, label=Purpose.MARKETING_EMAIL.label)
    consent_product_analytics = forms.BooleanField(required=False, label=Purpose.PRODUCT_ANALYTICS.label)
    consent_data_sharing = forms.BooleanField(required=False, label=Purpose.DATA_SHARING.label)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, purpose in ConsentForm.PURPOSES.items():
            self.fields[name].help_text = PURPOSE_HELP[purpose]

    def consents(self) -> dict[str, bool]:
        return {purpose: self.cleaned_data.get(name, False) for name, purpose in ConsentForm.PURPOSES.items()}
