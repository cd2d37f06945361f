"""Shared fixtures: users, logged-in clients, and workflows."""

import pytest

SIMPLE = """name: simple
title: Simple
inputs:
  n: {type: integer, default: 2}
steps:
  - id: a
    uses: wait
    with: {seconds: 0.01, value: "${inputs.n}"}
  - id: b
    uses: wait
    with: {seconds: 0, value: "${a * 10}"}
"""


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-password")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-password")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("sam", password="sam-password", is_staff=True)


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def workflow(alice):
    from builder.services import save_workflow

    return save_workflow(alice, SIMPLE, "created")
