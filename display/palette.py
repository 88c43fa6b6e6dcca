"""The panel's size, margins and colours: strong colours on black, because the LCD is small,
viewed at an angle, often in a dim cabinet."""

WIDTH = 160
HEIGHT = 128
SIZE = (WIDTH, HEIGHT)
HEADER_H = 20
MARGIN = 4

BLACK = (0, 0, 0)
WHITE = (255, 255, 255)
GREY = (170, 170, 170)
DARK_GREY = (60, 60, 60)
GREEN = (0, 210, 80)
BLUE = (40, 110, 230)
LIGHT_BLUE = (90, 170, 255)
DARK_BLUE = (20, 40, 95)
YELLOW = (255, 212, 0)
DARK_YELLOW = (95, 78, 0)
AMBER = (255, 160, 0)
RED = (215, 20, 20)
