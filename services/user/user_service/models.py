"""The user table, and the shapes of the city and role it refers to."""

import datetime

from peewee import AutoField, CharField, Check, DateTimeField, IntegerField, Model, TextField


class CityApi:
    """A city, as the city service returns it."""

    id = IntegerField(verbose_name="city id")
    name = CharField(max_length=128, verbose_name="city name")
    province = CharField(max_length=128, verbose_name="province or state the city is in")
    create_time = DateTimeField(verbose_name="creation time (UTC)")


class RoleApi:
    """A role, as the role service returns it."""

    id = IntegerField(verbose_name="role id")
    name = CharField(max_length=64, verbose_name="role name")
    description = TextField(null=True, verbose_name="what holders of the role may do")
    create_time = DateTimeField(verbose_name="creation time (UTC)")


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
