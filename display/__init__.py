"""Front-panel screens: a plain status snapshot in, a 160x128 picture out."""
