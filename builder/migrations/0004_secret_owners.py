"""Secrets belong to users: an owner, sharing with users and groups, names unique per owner.

Secrets made before owners existed go to the first superuser (else the first staff user);
with no such user nobody could have set them, and they are removed.
"""

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def give_owners(apps, schema_editor):
    Secret = apps.get_model("builder", "Secret")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    if not Secret.objects.exists():
        return
    admin = (User.objects.filter(is_superuser=True).order_by("pk").first()
             or User.objects.filter(is_staff=True).order_by("pk").first())
    if admin is None:
        Secret.objects.all().delete()
    else:
        Secret.objects.update(owner=admin)


class Migration(migrations.Migration):

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("builder", "0003_run_version_restrict"),
    ]

    operations = [
        migrations.AddField(
            model_name="secret",
            name="owner",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE,
                                    related_name="secrets", to=settings.AUTH_USER_MODEL),
        ),
        migrations.RunPython(give_owners, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="secret",
            name="owner",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="secrets",
                                    to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name="secret",
            name="name",
            field=models.CharField(max_length=100, validators=[django.core.validators.RegexValidator(
                "^[A-Za-z_][A-Za-z0-9_]*$", "Use letters, digits and _.")]),
        ),
        migrations.AddField(
            model_name="secret",
            name="shared_with",
            field=models.ManyToManyField(blank=True, help_text="other users whose runs may read it",
                                         related_name="shared_secrets", to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name="secret",
            name="shared_with_groups",
            field=models.ManyToManyField(blank=True, help_text="groups whose members' runs may read it",
                                         related_name="shared_secrets", to="auth.group"),
        ),
        migrations.AlterModelOptions(name="secret", options={"ordering": ["name", "owner_id"]}),
        migrations.AddConstraint(
            model_name="secret",
            constraint=models.UniqueConstraint(fields=("owner", "name"), name="one_secret_name_per_owner"),
        ),
    ]
