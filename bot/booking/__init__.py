"""Booking elderly-care service appointments: catalogue, dates and times, slots, bookings."""
