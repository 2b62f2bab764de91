from django.urls import path

from . import views

app_name = "vendors"
urlpatterns = [
    path("", views.account_list, name="list"),
    path("new/", views.account_add, name="add"),
    path("<int:pk>/", views.account_detail, name="detail"),
    path("<int:pk>/edit/", views.account_edit, name="edit"),
    path("<int:pk>/test/", views.account_test, name="test"),
    path("<int:pk>/sync/", views.account_sync, name="sync"),
    path("<int:pk>/sync/progress/", views.sync_progress, name="progress"),
    path("<int:pk>/import/", views.account_import, name="import"),
]
