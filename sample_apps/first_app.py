from asgi_magic.web import App

app = App()


@app.get("/")
async def home() -> dict[str, str]:
    return {"hello": "world"}


@app.get("/hello/{name}")
async def hello(name: str) -> str:
    return f"Hello, {name}!"
