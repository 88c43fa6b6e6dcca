"""Front-panel screens: a plain status snapshot in, a 160x128 picture out.

`snapshot.Snapshot` (what to show) -> `screens.render` (the picture) -> a backend from
`backends.make_backend` ("st7735" LCD, "png" file, "none"). The service redraws in each control
cycle and right after a button press; `samples` and `recorder` make pictures for people.
Nothing here imports `appliance/`; hardware libraries are imported only by the LCD backend.
"""
