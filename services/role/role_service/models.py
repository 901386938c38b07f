"""The role table: defined once, used for migrations, validation and API docs."""

import datetime

from peewee import AutoField, CharField, DateTimeField, Model, TextField


class Role(Model):
    id = AutoField(verbose_name="role id")
    name = CharField(max_length=64, unique=True, verbose_name="role name, unique")
    description = TextField(null=True, verbose_name="what holders of the role may do")
    create_time = DateTimeField(default=datetime.datetime.utcnow, verbose_name="creation time (UTC)")

    class Meta:
        table_name = "roles"
        read_only = ("create_time",)
