"""Theme store pages; included by dashboard/urls.py under the dashboard namespace."""

urlpatterns: list = []
