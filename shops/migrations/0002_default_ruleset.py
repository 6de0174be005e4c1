import datetime

from django.db import migrations


def create_default_ruleset(apps, schema_editor):
    RuleSet = apps.get_model("shops", "RuleSet")
    if not RuleSet.objects.exists():
        RuleSet.objects.create(
            version=1,
            market="",
            effective_from=datetime.date(2000, 1, 1),
            note="Defaults of spec/eligibility-rules.md",
        )


class Migration(migrations.Migration):
    dependencies = [("shops", "0001_initial")]
    operations = [migrations.RunPython(create_default_ruleset, migrations.RunPython.noop)]
