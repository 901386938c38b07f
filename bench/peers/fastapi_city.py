"""A fair FastAPI peer of GET /cities/<id>: uvicorn with uvloop and httptools, asyncpg pool,
a response model like a real FastAPI service would declare, ujson-free default JSON."""

import datetime
import os
from contextlib import asynccontextmanager

import asyncpg
import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

SQL = 'SELECT "id", "name", "province", "create_time" FROM "cities" WHERE "id" = $1'


class City(BaseModel):
    id: int
    name: str
    province: str
    create_time: datetime.datetime


class CityEnvelope(BaseModel):
    code: int = 0
    data: City


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.pool = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=2, max_size=10)
    yield
    await app.state.pool.close()


app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/cities/{city_id}", response_model=CityEnvelope)
async def get_city(city_id: int):
    async with app.state.pool.acquire() as conn:
        row = await conn.fetchrow(SQL, city_id)
    if row is None:
        raise HTTPException(404, "not found")
    return {"code": 0, "data": dict(row)}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), loop="uvloop", http="httptools",
                log_level="warning", access_log=False)
