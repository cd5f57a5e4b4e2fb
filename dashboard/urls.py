from django.contrib.auth import views as auth_views
from django.urls import path

from .store_urls import urlpatterns as store_urlpatterns
from .views import user

app_name = "dashboard"

urlpatterns = [
    path("", user.user_home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="registration/login.html"),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]

urlpatterns += store_urlpatterns
