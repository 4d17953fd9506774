"""Entry points, settings and embedded services of the payment gateway; nothing imports this package."""
