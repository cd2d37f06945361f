"""Page views."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from .runtime import registry


@login_required
def home(request):
    """The start page: what the builder offers so far."""
    return render(request, "home.html", {"actions": registry().describe()})
