"""The user table; the city and role it refers to are shaped as those services publish them."""

import datetime

from peewee import AutoField, CharField, Check, DateTimeField, IntegerField, Model

from sanicms import published_shape

#: A city and a role as their services reply, read from their published specs (not copied).
CityApi = published_shape("city", "City")
RoleApi = published_shape("role", "Role")


class User(Model):
    id = AutoField(verbose_name="user id")
    name = CharField(max_length=128, verbose_name="user's name")
    age = IntegerField(constraints=[Check("age >= 0"), Check("age <= 150")], verbose_name="user's age in years")
    sex = CharField(max_length=32, verbose_name="user's sex")
    city_id = IntegerField(verbose_name="city the user lives in", help_text=CityApi)
    role_id = IntegerField(verbose_name="role the user holds", help_text=RoleApi)
    create_time = DateTimeField(default=datetime.datetime.utcnow, verbose_name="creation time (UTC)")

    class Meta:
        table_name = "users"
        read_only = ("create_time",)
