"""Neural networks of the course: they know nothing about noise schedules."""
