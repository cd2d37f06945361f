"""The secrets a user's runs read come from one query (builder/runtime.py ``secrets_for``, read
twice a run): their own win over shared ones, and of two shared under one name the one changed
last wins; a secret shared with the user and with two of their groups is read once."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from builder.models import Secret
from builder.runtime import secrets_for

pytestmark = pytest.mark.django_db


def test_own_win_then_the_latest_shared(alice):
    bob, carol = User.objects.create_user("bob"), User.objects.create_user("carol")
    team, ops = Group.objects.create(name="team"), Group.objects.create(name="ops")
    alice.groups.add(team, ops)
    now = timezone.now()
    older = Secret.objects.create(owner=bob, name="TOKEN", value="bob's")
    newer = Secret.objects.create(owner=carol, name="TOKEN", value="carol's")
    Secret.objects.filter(pk=older.pk).update(updated_at=now - timedelta(days=1))
    Secret.objects.filter(pk=newer.pk).update(updated_at=now)
    older.shared_with.add(alice)
    newer.shared_with_groups.add(team, ops)
    newer.shared_with.add(alice)
    both = Secret.objects.create(owner=bob, name="KEY", value="bob's key")
    both.shared_with_groups.add(team)
    Secret.objects.create(owner=carol, name="HIDDEN", value="not shared")
    assert secrets_for(alice) == {"TOKEN": "carol's", "KEY": "bob's key"}
    Secret.objects.filter(pk=older.pk).update(updated_at=now + timedelta(days=1))
    assert secrets_for(alice)["TOKEN"] == "bob's"
    Secret.objects.create(owner=alice, name="TOKEN", value="mine")
    assert secrets_for(alice) == {"TOKEN": "mine", "KEY": "bob's key"}
