"""The city table: defined once, used for migrations, validation and API docs."""

import datetime

from peewee import AutoField, CharField, DateTimeField, Model


class City(Model):
    id = AutoField(verbose_name="city id")
    name = CharField(max_length=128, verbose_name="city name")
    province = CharField(max_length=128, verbose_name="province or state the city is in")
    create_time = DateTimeField(default=datetime.datetime.utcnow, verbose_name="creation time (UTC)")

    class Meta:
        table_name = "cities"
        indexes = ((("name", "province"), True),)
        read_only = ("create_time",)
