from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def user_home(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/home.html")
